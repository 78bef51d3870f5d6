# Makefile fragment, included by Makefile.am (one non-recursive make).
