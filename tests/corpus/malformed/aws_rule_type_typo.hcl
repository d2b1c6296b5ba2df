# Before one_of, any type but "egress" made an ingress rule.
resource "aws_security_group_rule" "out" {
  type              = "egres"
  security_group_id = "sg-1"
  protocol          = "-1"
  from_port         = 0
  to_port           = 0
  cidr_blocks       = ["0.0.0.0/0"]
}
