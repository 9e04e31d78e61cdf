from itb.cli import main

main()
