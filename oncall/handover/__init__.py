"""The morning hand-over: tickets that did not page while their desk was closed are kept
(:mod:`.store`) and handed to the people on duty at the desk's next opening (:mod:`.model`
words it; the daemon's ``handover`` duty sends it once per opening)."""
