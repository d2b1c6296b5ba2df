# The apiserver endpoint: a network load balancer on 6443 across the zones, a TCP target group
# whose health check is the apiserver's port, and a listener. Its DNS name is a SAN of the
# apiserver certificate, so certificates depend on it (not the other way round).

resource "aws_lb" "api" {
  name               = var.name
  load_balancer_type = "network"
  internal           = var.internal
  subnets            = var.subnet_ids
  tags = {
    Name = var.name
  }
}

resource "aws_lb_target_group" "api" {
  name        = "${var.name}-api"
  port        = var.port
  protocol    = "TCP"
  target_type = "instance"
  vpc_id      = var.vpc_id
  health_check {
    protocol            = "TCP"
    port                = tostring(var.port)
    interval            = 10
    healthy_threshold   = 3
    unhealthy_threshold = 3
  }
}

resource "aws_lb_listener" "api" {
  load_balancer_arn = aws_lb.api.arn
  port              = var.port
  protocol          = "TCP"
  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}

resource "aws_lb_target_group_attachment" "node" {
  for_each         = var.targets
  target_group_arn = aws_lb_target_group.api.arn
  target_id        = each.value
  port             = var.port
}
