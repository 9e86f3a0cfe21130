-- request: GET ?to=/there&code=301
-- request: GET ?to=http://example.com/x&code=302
-- request: GET ?to=/a&code=303
-- request: GET ?to=/b&code=307
-- request: GET ?to=/c&code=308
-- request: GET ?to=/d
local args = ngx.req.get_uri_args()
if args.code then
  ngx.redirect(args.to, tonumber(args.code))
else
  ngx.redirect(args.to)
end
