"""One operator class per tutorial step, a module per remote system or step group."""
