"""`python -m memcli` runs the `mem` command."""

from memcli.cli.front import main

if __name__ == "__main__":
    main()
