"""Pose estimation on images, folders, globs, videos or a webcam: ``posenet infer`` (see ``--help``)."""

from posenet.commands.infer import infer as main

if __name__ == "__main__":
    main()
