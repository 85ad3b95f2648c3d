"""`python -m archiver`: the command line."""
from .cli import main

main()
