"""Built-in continual learners; importing the package registers each one."""
