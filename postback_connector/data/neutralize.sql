-- A neutralized copy of the database must never notify real customers.
UPDATE postback_trigger SET state = 'disabled', disabled_reason = 'Database neutralized: postbacks are not sent from this copy.' WHERE state = 'active';
UPDATE postback_delivery SET state = 'cancelled', last_error = 'Database neutralized.' WHERE state IN ('pending', 'held');
