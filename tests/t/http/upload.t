# Uploads and streamed bodies: req:form() (lf.form) over multipart and
# urlencoded bodies, temp files, limits, malformed bodies; req:read(n).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use File::Temp ();
use IO::Select;
use POSIX ();
use LFTest qw(http_post wait_for);

my ($t, $updir);

# The upload files in DIR: a serving process's are in its own directory.
sub upload_files {
    my ($dir) = @_;
    return scalar grep { -f } glob("$dir/luafcgid-upload-* $dir/luafcgid-*/luafcgid-upload-*");
}

sub suite {
    $t = LFTest->new(conf => { workers => 2, maxpost => 16 * 1024 * 1024, maxfields => 5,
                                  upload_memory => 1024, memory => 64 * 1024 * 1024 });
    $updir = $t->dir . '/uploads';
    mkdir $updir, 0700;
    mkdir $t->dir . '/kept', 0700;
    $t->write_conf(upload_dir => $updir);

    # One line per field and file, sorted; a file's bytes are checked by the
    # test through its length and, for small ones, its text.
    $t->script('form.lua', <<~'LUA');
    local lf = require "luafcgid"
    local function sorted(t) local k = {} for n in pairs(t) do k[#k + 1] = n end table.sort(k) return k end
    function main(env, req)
      req:header('Content-Type', 'text/plain')
      local ok, fields, files = pcall(lf.form, req)
      if not ok then req:puts('error: ', fields, '\n') return end
      for _, k in ipairs(sorted(fields)) do
        local v = fields[k]
        if type(v) == 'table' then v = table.concat(v, ',') end
        req:puts('field ', k, '=', v, '\n')
      end
      for _, k in ipairs(sorted(files)) do
        local f = files[k]
        local bytes = f.data
        if f.path then local h = assert(io.open(f.path, 'rb')) bytes = h:read('*a') h:close() end
        req:puts('file ', k, ' filename=', f.filename, ' type=', f.content_type, ' size=', f.size,
                 ' read=', #bytes, ' in=', f.path and 'disk' or 'memory', '\n')
        if f.path then req:puts('path ', f.path, '\n') end
        if #bytes <= 64 then req:puts('bytes ', bytes, '\n') end
      end
    end
    LUA
    # Echo a file's bytes, so the test compares them whole.
    $t->script('echo.lua', <<~'LUA');
    function main(env, req)
      req:header('Content-Type', 'application/octet-stream')
      local fields, files = req:form()
      local f = files.up
      if f.path then local h = assert(io.open(f.path, 'rb')) req:puts(h:read('*a')) h:close()
      else req:puts(f.data) end
    end
    LUA
    $t->script('multi.lua', <<~'LUA');
    function main(env, req)
      local fields, files = req:form()
      req:puts(#files.m, ' ', files.m[1].filename, ' ', files.m[2].data, ' ', files.m[3].size)
    end
    LUA
    $t->script('keep.lua', <<~'LUA');
    function main(env, req)
      local fields, files = req:form()
      local to = fields.to
      assert(os.rename(files.up.path, to))
      req:puts(files.up.path)
    end
    LUA
    # req:read(n) in pieces: how many, any too long or empty, then the bytes.
    $t->script('read.lua', <<~'LUA');
    function main(env, req)
      local n = tonumber(env.QUERY_STRING)
      local parts, count, bad, short = {}, 0, 0, false
      while true do
        local s = req:read(n)
        if s == nil then break end
        count = count + 1
        if short or #s > n or #s == 0 then bad = bad + 1 end   -- only the last may be short
        short = #s < n
        parts[#parts + 1] = s
      end
      req:puts(count, ' ', bad, ' ', tostring(req:read(n)), '\n', table.concat(parts))
    end
    LUA
    # gets, read and form together: a kept body can be given again, a
    # streamed one once.
    $t->script('mix.lua', <<~'LUA');
    function main(env, req)
      local first = req:read(3)
      local ok, all = pcall(req.gets, req)
      req:puts(first, ' ', ok and #all or all)
    end
    LUA
    $t->script('getsread.lua', <<~'LUA');
    function main(env, req)
      local all = req:gets()
      local first = req:read(3)
      local fields, files = req:form()
      req:puts(#all, ' ', first, ' ', files.up.size)
    end
    LUA
    # the first bytes of the body answer before the rest is sent
    $t->script('early.lua', <<~'LUA');
    function main(env, req)
      req:puts('got ', req:read(5), '\n')
      req:flush()
      local n = 0
      while true do local s = req:read(65536) if not s then break end n = n + #s end
      req:puts('rest ', n, '\n')
    end
    LUA
    $t->start;
    body();
}

sub multipart {
    my ($boundary, @parts) = @_;
    my $body = '';
    for my $p (@parts) {
        my ($name, $value, %o) = @$p;
        $body .= "--$boundary\r\nContent-Disposition: form-data; name=\"$name\"";
        $body .= "; filename=\"$o{filename}\"" if defined $o{filename};
        $body .= "\r\n";
        $body .= "Content-Type: $o{type}\r\n" if $o{type};
        $body .= "\r\n$value\r\n";
    }
    return $body . "--$boundary--\r\n";
}

sub post {
    my ($script, $ctype, $body, %env) = @_;
    return $t->get($script, STDIN => $body, CONTENT_TYPE => $ctype, %env);
}

my $B = '----luafcgidTestBoundary7MA4YWxkTrZu0gW';

sub body {
    my $MP = "multipart/form-data; boundary=$B";
    my $pattern = join '', map { chr(($_ * 7 + 3) % 256) } 0 .. 255;

    # fields and a small file, in memory
    {
        my $r = post('form.lua', $MP, multipart($B, ['a', 'one'], ['b', 'x y'], ['a', 'two'],
                                                ['up', "small\r\nfile", filename => 'notes.txt', type => 'text/x-notes']));
        is($r->{status}, 200, 'a multipart form: 200');
        is($r->{body}, "field a=one,two\nfield b=x y\n"
                     . "file up filename=notes.txt type=text/x-notes size=11 read=11 in=memory\nbytes small\r\nfile\n",
           'fields (a repeated name is an array) and a small file in memory with its name, type and size');
    }

    # a repeated file name is an array of files, in order
    {
        my $r = post('multi.lua', $MP, multipart($B, ['m', 'one', filename => 'a'], ['m', 'two', filename => 'b'],
                                                 ['m', 'x' x 2000, filename => 'c']));
        is($r->{body}, '3 a two 2000', 'a repeated file name gives an array of files');
    }

    # a file over upload_memory goes to disk; its bytes arrive whole; the temp file goes after the request
    {
        my $data = $pattern x (3 * 4096);       # 3 MiB
        my $body = multipart($B, ['note', 'big one'], ['up', $data, filename => 'big.bin',
                                                       type => 'application/octet-stream']);
        my $r = post('form.lua', $MP, $body);
        like($r->{body}, qr/^file up filename=big\.bin type=application\/octet-stream size=3145728 read=3145728 in=disk$/m,
             'a file over upload_memory is on disk, whole');
        my ($path) = $r->{body} =~ /^path (.*)$/m;
        ok(defined $path && $path =~ m{^\Q$updir\E/luafcgid-\d+-[0-9a-f]{24}/luafcgid-upload-\w+$},
           "in the serving process's directory in upload_dir");
        ok(defined $path && !-e $path, 'and removed when the request ended');
        is(upload_files($updir), 0, 'upload_dir holds no upload file again');
        $r = post('echo.lua', $MP, $body);
        ok($r->{body} eq $data, 'the file read back from disk is byte-exact');
    }

    # the temp file: 0600, unpredictable name, kept when the script moves it
    {
        my $kept = $t->dir . '/kept/file.bin';
        my $body = multipart($B, ['to', $kept], ['up', $pattern x 16, filename => 'k.bin']);
        my $r = post('keep.lua', $MP, $body);
        is($r->{status}, 200, 'a script moves its upload');
        ok(-f $kept && -s $kept == 4096, 'the moved file stays, whole');
        is((stat $kept)[2] & 07777, 0600, 'created 0600');
        like($r->{body}, qr{/luafcgid-upload-[0-9a-f]{24}$}, 'under an unpredictable name');
        my $r2 = post('keep.lua', $MP, multipart($B, ['to', "$kept.2"], ['up', $pattern x 16, filename => 'k.bin']));
        isnt($r2->{body}, $r->{body}, 'a new name each time');
    }

    # a filename's path is stripped, / and \ alike
    {
        my $r = post('form.lua', $MP, multipart($B, ['up', 'x', filename => '../../etc/passwd'],
                                                ['win', 'y', filename => 'C:\\Users\\me\\..\\evil.txt'],
                                                ['dots', 'z', filename => '..']));
        like($r->{body}, qr/^file up filename=passwd /m, '../ is stripped from a filename');
        like($r->{body}, qr/^file win filename=evil\.txt /m, '\\ is stripped too');
        like($r->{body}, qr/^file dots filename= /m, '".." alone becomes empty');
    }

    # the upload example
    {
        system('cp', LFTest::top() . '/examples/upload.lua', $t->www) == 0 or die "cp: $?";
        my $r = post('upload.lua', $MP, multipart($B, ['note', 'mine'], ['file', "first <line>\n" . ('x' x 5000),
                                                      filename => 'a.txt', type => 'text/plain']), REQUEST_METHOD => 'POST');
        like($r->{body}, qr{<p>mine: <b>a\.txt</b>, text/plain, 5013 bytes, on disk\. First line: <code>first &lt;line&gt;</code></p>},
             'examples/upload.lua answers with the file it got');
    }

    # urlencoded through the same API
    {
        my $r = post('form.lua', 'application/x-www-form-urlencoded', 'a=1&b=x+y%21&a=2;c=');
        is($r->{body}, "field a=1,2\nfield b=x y!\nfield c=\n", 'an urlencoded body through req:form');
    }

    # limits
    {
        my $r = post('form.lua', 'application/x-www-form-urlencoded', join('&', map { "f$_=1" } 1 .. 6));
        like($r->{body}, qr/^error: .*more than maxfields \(5\)/, 'the field past maxfields is refused (urlencoded)');
        $r = post('form.lua', $MP, multipart($B, map { ["f$_", 'v'] } 1 .. 6));
        like($r->{body}, qr/^error: .*more than maxfields \(5\)/, 'and in a multipart body');
        $r = post('form.lua', $MP, multipart($B, map { ["f$_", 'v'] } 1 .. 5));
        like($r->{body}, qr/^field f5=v$/m, 'maxfields fields are fine');
        $r = post('form.lua', 'application/x-www-form-urlencoded', ('n' x 257) . '=1');
        like($r->{body}, qr/^error: .*field name is over 256 bytes/, 'a name over 256 bytes is refused');
        $r = post('form.lua', $MP, multipart($B, ['n' x 257, 'v']));
        like($r->{body}, qr/^error: .*name is malformed or over 256 bytes/, 'and in a multipart body');
        $r = post('form.lua', $MP, 'x' x (16 * 1024 * 1024 + 1));
        is($r->{status}, 413, 'a body over maxpost is 413');
    }

    # malformed bodies: a clear error the script catches, the daemon goes on
    {
        my %bad = (
            'no boundary'             => ['multipart/form-data', multipart($B, ['a', '1']), qr/no boundary in the multipart Content-Type/],
            'boundary too long'       => ['multipart/form-data; boundary=' . ('b' x 71), "--x\r\n", qr/longer than 70/],
            'boundary never closed'   => [$MP, "--$B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nopen", qr/before its closing boundary/],
            'no boundary line'        => [$MP, "just some text", qr/no boundary line/],
            'part without headers'    => [$MP, "--$B\r\n\r\nx\r\n--$B--\r\n", qr/without headers/],
            'headers too long'        => [$MP, "--$B\r\nX: " . ('h' x 9000) . "\r\n\r\nx\r\n--$B--\r\n", qr/headers are too long/],
            'part without a name'     => [$MP, "--$B\r\nContent-Type: text/plain\r\n\r\nx\r\n--$B--\r\n", qr/no Content-Disposition name/],
            'unknown body type'       => ['text/plain', 'a=1', qr/cannot parse a body of type text\/plain/],
        );
        for my $name (sort keys %bad) {
            my ($ctype, $body, $want) = @{ $bad{$name} };
            my $r = post('form.lua', $ctype, $body);
            like($r->{body}, qr/^error: form: /, "$name: an error the script catches");
            like($r->{body}, $want, "$name: it says why");
        }
        my $r = post('form.lua', $MP, multipart($B, ['a', 'fine']));
        is($r->{body}, "field a=fine\n", 'the daemon goes on serving');

        # no CONTENT_TYPE: a body is no form (the error is documented), an empty one is
        $r = post('form.lua', undef, 'a=1&b=2');
        like($r->{body}, qr/^error: form: cannot parse a body without a Content-Type/,
             'a body without a Content-Type: a form: error, not two empty tables');
        $r = post('form.lua', undef, 'x' x 5000);
        like($r->{body}, qr/^error: form: cannot parse a body without a Content-Type/,
             'and one streamed (over upload_memory)');
        $r = post('form.lua', undef, '');
        is($r->{body}, '', 'an empty body without a Content-Type: two empty tables');
    }

    # a file part that fails midway leaves no temp file behind
    {
        my $body = "--$B\r\nContent-Disposition: form-data; name=\"up\"; filename=\"x\"\r\n\r\n" . ($pattern x 64);
        my $r = post('form.lua', $MP, $body);
        like($r->{body}, qr/before its closing boundary/, 'an unterminated file part is an error');
        is(upload_files($updir), 0, 'its partial temp file is removed');
    }

    # req:read(n) over a 1 MB body
    {
        my $body = $pattern x 4096;
        for my $n (1, 7, 65536) {
            my $r = post('read.lua', 'application/octet-stream', $body, QUERY_STRING => $n);
            my $count = int((length($body) + $n - 1) / $n);
            my ($head, $bytes) = split /\n/, $r->{body}, 2;
            is($head, "$count 0 nil", "req:read($n): $count pieces of $n bytes (the last shorter), then nil");
            ok(defined $bytes && $bytes eq $body, "req:read($n): the body byte-exact");
        }
        my $r = post('read.lua', 'application/octet-stream', '', QUERY_STRING => 5);
        is($r->{body}, "0 0 nil\n", 'req:read on an empty body: nil at once');
    }

    # how read, gets and form combine
    {
        my $r = post('mix.lua', 'application/octet-stream', 'abcdefgh');
        is($r->{body}, 'abc 8', 'a small body is kept: gets after read has it whole');
        $r = post('mix.lua', 'application/octet-stream', 'abc' . ('x' x 5000));
        like($r->{body}, qr/^abc .*given out in pieces/, 'a body over upload_memory is streamed: gets after read says why');
        my $body = multipart($B, ['up', $pattern x 16, filename => 'g.bin']);
        $r = post('getsread.lua', $MP, $body);
        is($r->{body}, length($body) . ' --- 4096', 'after gets, read and form both see the kept body from its start');
    }

    # a streamed body reaches the handler before it has all arrived
    {
        my $s = $t->connect;
        my %params = (SCRIPT_FILENAME => $t->www . '/early.lua', REQUEST_METHOD => 'POST',
                      CONTENT_LENGTH => 200000, CONTENT_TYPE => 'application/octet-stream');
        my $p = join '', map { LFTest::nv_len($_) . LFTest::nv_len($params{$_}) . $_ . $params{$_} } sort keys %params;
        LFTest::write_all($s, LFTest::record(1, 1, pack('nCx5', 1, 0)) . LFTest::stream(4, 1, $p)
                              . LFTest::record(5, 1, 'hello' . ('y' x 8995)));   # over 8 kB: dispatch_whole.c
        my $sel = IO::Select->new($s);
        my $got = '';
        my $early = wait_for(sub {
            return 0 unless $sel->can_read(0.2);
            sysread($s, my $buf, 65536) or return -1;
            $got .= $buf;
            return $got =~ /got hello\n/ ? 1 : 0;
        }, 20);
        is($early, 1, 'the handler reads the first bytes while the client has sent 9000 of 200000');
        LFTest::write_all($s, LFTest::stream(5, 1, 'z' x 191000));
        my $r = LFTest::read_response($s);
        like($got . $r->{stdout}, qr/rest 199995\n/, 'and then the rest, whole');
        close $s;
    }

    # through a private nginx with its own client_max_body_size
    SKIP: {
        skip 'nginx is not installed', 6 unless -x LFTest::nginx_binary() || `which nginx 2>/dev/null`;
        $t->start_nginx(client_max_body_size => '12m');
        my $data = $pattern x (10 * 4096);     # 10 MiB
        my $body = multipart($B, ['a', '1'], ['b', '2'], ['c', '3'], ['up', $data, filename => 'n.bin']);
        my $r = http_post($t->nginx_url('/echo.lua'), $body, headers => { 'Content-Type' => $MP });
        is($r->{status}, 200, 'a 10 MiB upload and three fields through nginx: 200');
        ok($r->{content} eq $data, 'byte-exact');
        $r = http_post($t->nginx_url('/form.lua'), $body, headers => { 'Content-Type' => $MP });
        like($r->{content}, qr/^field a=1\nfield b=2\nfield c=3\nfile up filename=n\.bin .*size=10485760 read=10485760 in=disk$/m,
             'three fields and the file through nginx');
        my ($path) = $r->{content} =~ /^path (.*)$/m;
        ok(defined $path && !-e $path, 'the temp file is gone after the request');
        $r = http_post($t->nginx_url('/form.lua'), 'x' x (12 * 1024 * 1024 + 10), headers => { 'Content-Type' => $MP });
        is($r->{status}, 413, "over nginx's client_max_body_size: 413");
        $r = http_post($t->nginx_url('/read.lua?7'), $pattern x 1024, headers => { 'Content-Type' => 'application/octet-stream' });
        is($r->{content}, "37450 0 nil\n" . ($pattern x 1024), 'req:read(7) through nginx');
        $t->stop_nginx;
    }

    ok(LFTest::alive($t->pid), 'the daemon still runs');
    is($t->stop, 0, "the daemon stops cleanly");
    stalled();
    missing_dir();
}

# An upload_dir that cannot be written: a clear error for the script, a log line.
sub missing_dir {
    my $m = LFTest->new(conf => { workers => 1, upload_memory => 0 });
    $m->write_conf(upload_dir => $m->dir . '/no/such/dir');
    $m->script('up.lua', "function main(env, req) local ok, e = pcall(req.form, req) req:puts(ok and 'ok' or e) end\n");
    $m->start;
    my $r = $m->get('up.lua', STDIN => multipart($B, ['f', 'data', filename => 'x']),
                    CONTENT_TYPE => "multipart/form-data; boundary=$B");
    like($r->{body}, qr{^form: cannot create an upload file in .*/no/such/dir/luafcgid-\d+-[0-9a-f]{24}$}, 'a missing upload_dir: the script gets why');
    ok($m->wait_log(qr{cannot create an upload file in .*/no/such/dir/luafcgid-\d+-[0-9a-f]{24}: No such file or directory}),
       'and the log has the system error');
    $m->stop;
}

# A client that stalls while the handler reads its body is cut at
# client_timeout, as before the handler, and frees its worker.
sub stalled {
    my $s2 = LFTest->new(conf => { workers => 1, client_timeout => 1 });
    $s2->script('all.lua', "function main(env, req) local n = 0 while true do local s = req:read(4096) "
                         . "if not s then break end n = n + #s end req:puts(n) end\n");
    $s2->start;
    my $s = $s2->connect;
    my %params = (SCRIPT_FILENAME => $s2->www . '/all.lua', REQUEST_METHOD => 'POST',
                  CONTENT_LENGTH => 500000);
    my $p = join '', map { LFTest::nv_len($_) . LFTest::nv_len($params{$_}) . $_ . $params{$_} } sort keys %params;
    LFTest::write_all($s, LFTest::record(1, 1, pack('nCx5', 1, 0)) . LFTest::stream(4, 1, $p)
                          . LFTest::record(5, 1, 'x' x 70000));
    ok(LFTest::closed_within($s, 10), 'a client stalled in a streamed body is closed');
    my $r = $s2->get('all.lua', STDIN => 'abc');
    is($r->{body}, '3', 'and the worker serves the next request');
    $s2->stop;
}

# req:form() inside a coroutine that is then dropped: the parse state's
# __gc runs after the coroutine was freed, and must not use it.
sub form_in_coroutine {
    my $c = LFTest->new(conf => { workers => 1, upload_memory => 1024, timeout => 10 });
    $c->script('cogc.lua', <<~'LUA');
    function main(env, req)
      local keep = {}
      for i = 1, 300 do
        local co = coroutine.create(function() local fields = req:form() return fields end)
        assert(coroutine.resume(co))
        co = nil
        -- strings of the sizes a lua_State takes reuse its freed block
        for n = 60, 260 do keep[#keep + 1] = string.rep('A', n) .. i .. '_' .. n end
        if #keep > 20000 then keep = {} end
      end
      req:puts('ok')
    end
    LUA
    $c->start;
    my $serving = LFTest::serving_pid($c->pid);
    my $B = 'XyZbound';
    my $body = "--$B\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--$B--\r\n";
    for my $i (1 .. 3) {
        my $r = $c->get('cogc.lua', STDIN => $body, CONTENT_TYPE => "multipart/form-data; boundary=$B");
        is($r->{body}, 'ok', "req:form() in a dropped coroutine, then a GC ($i)");
    }
    is(LFTest::serving_pid($c->pid), $serving, 'the serving process was not restarted');
    unlike($c->log, qr/died of SIG/, 'no serving process died');
    $c->stop;
}

suite();
form_in_coroutine();
# again under AddressSanitizer and UBSan, whose reports go to files
SKIP: {
    skip 'no ASan build (LUAFCGID_ASAN)', 1 unless $ENV{LUAFCGID_ASAN} && -x $ENV{LUAFCGID_ASAN};
    my $reports = File::Temp::tempdir('lf-asan.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    local $ENV{LUAFCGID} = $ENV{LUAFCGID_ASAN};
    local $ENV{ASAN_OPTIONS} = "halt_on_error=0 log_path=$reports/asan detect_leaks=1";
    local $ENV{UBSAN_OPTIONS} = "print_stacktrace=1 log_path=$reports/ubsan";
    suite();
    form_in_coroutine();
    opendir(my $d, $reports);
    my @found = grep { !/^\./ } readdir $d;
    is("@found", '', 'no sanitizer report');
}
# req:read() after a req:form() that failed midway on a streamed body:
# form took pieces of it, so read raises instead of giving them again.
{
    my $c = LFTest->new(conf => { workers => 1, upload_memory => 1024 });
    $c->script('seq.lua', <<~'LUA');
    function main(env, req)
      local ok, e = pcall(req.form, req)
      local ok2, s = pcall(req.read, req, 10)
      req:puts(tostring(ok), ' ', tostring(ok2), ' ', tostring(s))
    end
    LUA
    $c->start;
    my $B = 'XyZbound';
    my $bad = "--$B\r\nX: " . ('h' x 9000) . "\r\n\r\n" . ('W' x 200000) . "\r\n--$B--\r\n";
    my $r = $c->get('seq.lua', STDIN => $bad, CONTENT_TYPE => "multipart/form-data; boundary=$B");
    unlike($r->{body}, qr/^false true --XyZbound/, 'read after a failed form does not give the bytes form took');
    like($r->{body}, qr/^false false .*given out in pieces/, 'it says the body was given out in pieces');
    $c->stop;
}

# req:gets() on a streamed body bigger than `memory` is refused before it
# is read: the serving process never holds it.
{
    my $c = LFTest->new(conf => { workers => 1, upload_memory => 65536, maxpost => 200 * 1024 * 1024,
                                  memory => 8 * 1024 * 1024 });
    $c->script('gets.lua', "function main(env, req) local ok, e = pcall(req.gets, req) req:puts(tostring(ok)) end\n");
    $c->script('small.lua', "function main(env, req) req:puts(#req:gets()) end\n");
    $c->start;
    my $sp = LFTest::serving_pid($c->pid);
    my $r = $c->get('gets.lua', STDIN => 'g' x (64 * 1024 * 1024), CONTENT_TYPE => 'application/octet-stream');
    is($r->{status}, 500, 'a streamed body bigger than memory, taken whole: 500');
    my ($hwm) = LFTest::slurp("/proc/$sp/status") =~ /VmHWM:\s+(\d+)/;
    cmp_ok($hwm, '<', 40 * 1024, "the serving process's peak RSS stays below the body's size ($hwm kB)");
    ok($c->wait_log(qr/gets\.lua.*memory limit reached/, 3), 'the log says why');
    is($c->get('small.lua', STDIN => 'h' x 300000, CONTENT_TYPE => 'application/octet-stream')->{body}, '300000',
       'a streamed body within memory is still taken whole');
    $c->stop;
}

# The temp files of a serving process that dies are removed by the
# supervisor; none is left after a stop.
{
    my $c = LFTest->new(conf => { workers => 2, upload_memory => 1024, timeout => 30 });
    my $dir = $c->dir . '/uploads';
    mkdir $dir, 0700;
    $c->write_conf(upload_dir => $dir);
    $c->script('spin.lua', "function main(env, req) local f, fi = req:form() local s = os.time() while os.time() < s + 25 do end end\n");
    $c->script('id.lua', "function main(env, req) req:puts('id') end\n");
    $c->start;
    my $B = 'XyZbound';
    my $body = "--$B\r\nContent-Disposition: form-data; name=\"up\"; filename=\"x\"\r\n\r\n" . ('z' x 5000) . "\r\n--$B--\r\n";
    my $pid = fork // die;
    if ($pid == 0) { $c->get('spin.lua', STDIN => $body, CONTENT_TYPE => "multipart/form-data; boundary=$B"); POSIX::_exit(0) }
    my $temps = sub { upload_files($dir) };
    ok(wait_for(sub { $temps->() == 1 }, 10), 'the upload is in its temp file');
    kill 'KILL', LFTest::serving_pid($c->pid);
    waitpid($pid, 0);
    is($c->get('id.lua')->{body}, 'id', 'the restarted serving process serves');
    ok(wait_for(sub { $temps->() == 0 }, 5), "the dead process's temp file is removed after the restart");
    $c->stop;
    opendir(my $d, $dir);
    is(join(' ', grep { !/^\.\.?$/ } readdir $d), '', 'nothing is left in upload_dir after stop');
}

# A local user who makes upload_dir/luafcgid-<pid> first (any name the
# daemon could guess for its directory) does not stop its uploads: the
# directory's name is not to be guessed, and a squatter's is left alone.
{
    my $c = LFTest->new(conf => { workers => 1, upload_memory => 0 });
    my $dir = $c->dir . '/uploads';
    mkdir $dir, 01777;
    chmod 01777, $dir;
    $c->write_conf(upload_dir => $dir);
    $c->script('up.lua', "function main(env, req) local f, fi = req:form() req:puts(fi.up and fi.up.path or 'none') end\n");
    $c->start;
    my $serving = LFTest::serving_pid($c->pid);
    my ($uid, $gid) = (getpwnam('nobody'))[2, 3];
    for my $name ("luafcgid-$serving", "luafcgid-$serving-0", "luafcgid-$serving-000000000000000000000000") {
        mkdir "$dir/$name", 0755 or die "mkdir: $!";
        chown $uid, $gid, "$dir/$name" if defined $uid;
    }
    my $B = 'SqUaT';
    my $r = $c->get('up.lua', STDIN => "--$B\r\nContent-Disposition: form-data; name=\"up\"; filename=\"x\"\r\n\r\n"
                                     . ('q' x 3000) . "\r\n--$B--\r\n",
                    CONTENT_TYPE => "multipart/form-data; boundary=$B");
    like($r->{body}, qr{^\Q$dir\E/luafcgid-$serving-[0-9a-f]{24}/luafcgid-upload-[0-9a-f]{24}$},
         'an upload goes to a directory of a name no one could make first') or diag $r->{body};
    ok(-d "$dir/luafcgid-$serving", "the squatter's directory is left alone");
    $c->stop;
    opendir(my $d, $dir);
    is(join(' ', sort grep { !/^\.\.?$/ } readdir $d),
       join(' ', sort "luafcgid-$serving", "luafcgid-$serving-0", "luafcgid-$serving-000000000000000000000000"),
       'after a stop only the squatters\' names are left');
}

done_testing();
