from . import test_event_types
from . import test_security
from . import test_trigger_validation
from . import test_customer
from . import test_order_events
from . import test_delivery
from . import test_template
from . import test_tour
