from leadgrade.cli import main

main()
