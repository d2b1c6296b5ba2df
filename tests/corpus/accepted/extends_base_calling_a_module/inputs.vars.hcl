name = "from-the-environment"
