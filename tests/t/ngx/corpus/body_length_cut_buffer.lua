-- request: POST | Content-Type: text/plain | Cut: 16385 | body: BIGBODY
-- request: POST | Content-Type: text/plain | Cut: 20000 | body: BIGBODY
-- request: POST | Content-Type: text/plain | Cut: 20479 | body: BIGBODY
-- request: POST | Content-Type: text/plain | Cut: 24000 | body: BIGBODY
-- A body cut by its Content-Length stays in memory while it is less than
-- 1.25 times the body buffer (client_body_buffer_size 16k, upload_memory
-- here), as nginx sizes the buffer to a body that small; then a file.
-- (Where nginx draws the line moves by the body bytes that came with the
-- headers: sizes near 20480 are not asked.)
local cut = ngx.var.http_cut
ngx.req.set_header("Content-Length", cut)
ngx.req.read_body()
local data, file = ngx.req.get_body_data(), ngx.req.get_body_file()
ngx.say(data and #data or "no data", " ", file and "file" or "no file")
