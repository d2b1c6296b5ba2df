output "dns_name" {
  value = aws_lb.api.dns_name
}

output "endpoint" {
  value = "${aws_lb.api.dns_name}:${var.port}"
}

output "target_group_arn" {
  value = aws_lb_target_group.api.arn
}
