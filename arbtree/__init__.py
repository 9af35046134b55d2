"""The arbtree application: the ``arbtree`` command and the assembly of the actor tree."""
