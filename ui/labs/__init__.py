"""One controller per lab, named like its page: widgets -> config -> core -> figures."""
