"""One job of one CR: ``plan`` (the CR's spec becomes extra vars in ``extravars`` / ``snake``, plus
inventory and environment), ``jobdir`` (private inputs on disk), ``executor`` (the interface and the
plain ansible-runner path), ``results`` (events → result), ``joblog``. Receives a CR and its watch;
hands a ``JobResult`` on."""
