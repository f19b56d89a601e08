"""KerasTuner search over memory size, segment length and rehearsal weights."""
