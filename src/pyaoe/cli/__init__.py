"""pyaoe.cli: the commands (vblade, vbladed, pyaoe, aoetools' names); thin layers over the library.

Each main(argv) returns an exit code; mistakes are one line on stderr.
"""
