-- A content script that defines and calls run, or main, is no handler
-- script nor WSAPI app: its first run answered through ngx.
-- request: GET ?a=1
-- request: GET ?a=2
-- request: GET ?a=3
function run()
  ngx.say("hello from run ", ngx.var.arg_a)
end
function main(x)
  ngx.say("hello from main ", ngx.var.arg_a, " ", type(x))
end
run()
main("first")
