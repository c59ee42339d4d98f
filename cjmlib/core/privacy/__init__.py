"""Privacy: no raw e-mail, phone or name leaves the workbench (moved to a package; the
module is cut into its parts in the next commit)."""

from cjmlib.core.privacy.detect import *  # noqa: F403
