"""Corpus files to sections with heading paths (a reader per format), and sections to passages (the splitter)."""
