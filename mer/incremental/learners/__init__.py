"""Built-in continual learners; importing the package registers each one."""

from mer.incremental.learners import der  # noqa: F401
from mer.incremental.learners import finetune  # noqa: F401
from mer.incremental.learners import foster  # noqa: F401
from mer.incremental.learners import ranpac  # noqa: F401
from mer.incremental.learners import dualprompt  # noqa: F401
from mer.incremental.learners import l2p  # noqa: F401
