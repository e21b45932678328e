"""Response clocks: when support owes a ticket's first or next response, watched (:mod:`.model`,
pure), kept in ``response_clocks`` (:mod:`.store`); the daemon's ``response-clocks`` duty warns
the people on duty and records misses."""
