"""A Python worker for the tests: pyworker.py MODE [ARG].

echo            the result is the payload
sleep           waits 20 ms, then echoes
fail            raises ValueError
batchid         the result is the id of the batch the task came in
shared          the result is shared data + b"|" + payload; payload b"fail" raises
hang-once PATH  the first task of the first worker to create PATH prints
                STARTED and never returns; every other task echoes
numpy           in a process pool: the payload is a pickled array, the result its sum
"""

import os
import sys
import threading
import time

import alpcrun.worker
from alpcrun import Pickle


def echo(task):
    return task.payload


def sleep(task):
    time.sleep(0.02)
    return task.payload


def batchid(task):
    return task.batch_id.encode()


def fail(task):
    raise ValueError(f"task {task.id} fails")


def shared(task):
    if task.payload == b"fail":
        raise ValueError("bad task")
    return task.shared_data + b"|" + task.payload


def hang_once(marker):
    def handle(task):
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            return task.payload
        os.close(fd)
        print("STARTED", flush=True)
        threading.Event().wait()
    return handle


def numpy_sum(task):
    return float(task.payload.sum())


if __name__ == "__main__":
    mode = sys.argv[1]
    opts = dict(concurrency=2, heartbeat=1.0)
    if mode == "echo":
        alpcrun.worker.run(echo, **opts)
    elif mode == "sleep":
        alpcrun.worker.run(sleep, **opts)
    elif mode == "batchid":
        alpcrun.worker.run(batchid, **opts)
    elif mode == "fail":
        alpcrun.worker.run(fail, **opts)
    elif mode == "shared":
        alpcrun.worker.run(shared, **opts)
    elif mode == "hang-once":
        alpcrun.worker.run(hang_once(sys.argv[2]), **opts)
    elif mode == "numpy":
        alpcrun.worker.run(numpy_sum, processes=True, codec=Pickle(), **opts)
    else:
        sys.exit(f"unknown mode {mode}")
