a = "x"
b = var.a
