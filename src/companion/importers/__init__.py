"""The seed system's data (Never-Alone: its Azure Cosmos DB, or an export of it) brought over.

``sources`` reads documents (the Cosmos DB account with the official SDK, or one JSON file per
container); the mapping modules (``people``, ``safety``, ``music``, ``memories``, ``history``,
``conversations``, ``photos``) turn each kind of source document into our sections and records as pure
functions; ``plan`` puts one person together and decides, against what is stored here, what to write;
``runner`` does it person by person, one transaction each, and ``report`` says what came over, what
did not and why.
"""
