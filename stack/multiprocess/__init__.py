"""`qnet up`: one OS process per node plus a medium process, real UDP on 127.0.0.1, dilated real time."""
