-- differ: body | ^args=x=1&y=2\nq=nil\nmine=v\n$
-- The write to an undeclared variable is allowed here (no `set` to see).
ngx.var.args = "x=1&y=2"
ngx.say("args=", ngx.var.args)
ngx.say("q=", tostring(ngx.var.arg_q))
ngx.say("mine=", tostring(pcall(function() ngx.var.mine = "v" end) and ngx.var.mine))
