"""Care-profile documents and the service that loads and saves them."""
