"""The supervision runtime: actors, mailboxes, OTP supervisors, phased shutdown.

Knows nothing about trading; imports only ``protocols.tree``.
"""

from supervision.actor import Actor as Actor
from supervision.actor import ActorContext as ActorContext
from supervision.direct import serve_inbox as serve_inbox
from supervision.mailbox import DirectOwner as DirectOwner
from supervision.mailbox import Mailbox as Mailbox
from supervision.mailbox import MailboxFull as MailboxFull
from supervision.mailbox import OverflowPolicy as OverflowPolicy
from supervision.mailbox import QueueInstead as QueueInstead
from supervision.shutdown import PhaseSpec as PhaseSpec
from supervision.shutdown import ShutdownCoordinator as ShutdownCoordinator
from supervision.spec import BRUTAL as BRUTAL
from supervision.spec import INFINITY as INFINITY
from supervision.spec import AutoShutdown as AutoShutdown
from supervision.spec import Backoff as Backoff
from supervision.spec import ChildSpec as ChildSpec
from supervision.spec import Restart as Restart
from supervision.spec import SpecError as SpecError
from supervision.spec import Strategy as Strategy
from supervision.spec import SupervisorSpec as SupervisorSpec
from supervision.supervisor import SupervisorGaveUp as SupervisorGaveUp
from supervision.tree import Tree as Tree
from supervision.tree import open_tree as open_tree
