from dojosim.cli import main

main()
