from landmark_tag.cli import main

main()
