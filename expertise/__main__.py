from expertise.cli import main

main()
