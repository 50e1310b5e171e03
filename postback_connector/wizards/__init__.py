from . import postback_checked_wizard
from . import postback_template_preview
from . import postback_trigger_activate
from . import postback_secret
from . import postback_secret_auth
from . import postback_emit
