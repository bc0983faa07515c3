"""Video analyzers: the contract at the root, and media/, models/, stages/, output/, testing/."""
