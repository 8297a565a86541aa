# make fuzz: every Go fuzz target for FUZZTIME each (scripts/fuzz.sh);
# include from the Makefile. FUZZTIME passes through the environment
# (make fuzz FUZZTIME=5s works too).
.PHONY: fuzz

fuzz:
	FUZZTIME=$(or $(FUZZTIME),10s) ./scripts/fuzz.sh
