region = "eu"

variable "other" {}
