region = "ÿ"
