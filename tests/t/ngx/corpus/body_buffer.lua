-- request: POST | Content-Type: text/plain | body: BODY16385
-- request: POST | Content-Type: text/plain | body: BODY20000
-- request: POST | Content-Type: text/plain | body: BODY24000
-- A body just over the buffer (client_body_buffer_size 16k, upload_memory
-- here) is read into memory while it is less than 1.25 times it, as nginx
-- sizes the buffer to such a body; a bigger one goes to a file. (Where
-- nginx draws the line moves by the body bytes that came with the
-- headers: sizes near 20480 are not asked.)
ngx.req.read_body()
local data, file = ngx.req.get_body_data(), ngx.req.get_body_file()
ngx.say(data and #data or "no data", " ", file and "file" or "no file",
        " ", #(ngx.var.request_body or ""))
