"""Generated protobuf and gRPC stubs of alpcrun.v1 (make proto)."""
