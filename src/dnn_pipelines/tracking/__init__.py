"""Run tracking: the run manifest (`manifest`), which versions a run reads (`pins`), the
version store on disk (`store`), pruning it (`prune`) and the `kedro versions` CLI (`cli`)."""
