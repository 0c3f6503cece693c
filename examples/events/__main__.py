import trio

from .main import main

trio.run(main)
