"""What a run left behind, read back: MLMD summaries, the HTML report, comparisons."""
