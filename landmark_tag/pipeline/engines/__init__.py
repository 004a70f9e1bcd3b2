"""Engines: where the execute step runs (`local` on this machine, `ray` on Ray Data)."""
