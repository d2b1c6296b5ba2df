region = "eu"
reigon = "us"
