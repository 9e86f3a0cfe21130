# Resolving the script against hostile variables: a path built from
# DOCUMENT_ROOT (or the docroot key) + SCRIPT_NAME + PATH_INFO stays under
# that root; docroot answers the same whether a file outside exists; a
# file swapped for a symlink out of docroot or for a FIFO is never loaded;
# and what a request costs in stat calls does not grow with what it sends.
# one build: resolving the script's path, in C: the Lua build changes none of it
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use POSIX ();
use Test::More;
use Time::HiRes qw(time);
use LFTest qw(wait_for spew slurp);

my $t = LFTest->new(conf => { workers => 2, clones => 1, states => 8, sweep => 600000 });   # no docroot; no sweep while stat calls are counted
my ($dir, $www) = ($t->dir, $t->www);
$t->script('x.lua', "function main(env, req) req:puts('x ', env.SCRIPT_FILENAME) end\n");
$t->script('hits.lua', "hits = 0\nfunction main(env, req) hits = hits + 1 req:puts(hits) end\n");
$t->script('env.lua', "function main(env, req) for _, k in ipairs{'SCRIPT_NAME', 'PATH_INFO',"
           . " 'ORIG_SCRIPT_NAME', 'ORIG_PATH_INFO', 'ORIG_SCRIPT_FILENAME'} do"
           . " req:puts(k, '=', tostring(env[k]), ';') end end\n");
mkdir "$dir/out";
spew("$dir/out/evil.lua", "function main(env, req) req:puts('EVIL') end\n");
$t->start;

my %get = (REQUEST_METHOD => 'GET');

# Caddy without split and H2O pass the client's "/../" through unchanged.
for my $case (
    [ 'PATH_INFO after a directory SCRIPT_FILENAME',
      { SCRIPT_FILENAME => $www, SCRIPT_NAME => '', PATH_INFO => '/../out/evil.lua', DOCUMENT_ROOT => $www } ],
    [ 'PATH_INFO through the script and back',
      { SCRIPT_FILENAME => $www, SCRIPT_NAME => '', PATH_INFO => '/sub/../../out/evil.lua', DOCUMENT_ROOT => $www } ],
    [ 'SCRIPT_NAME from DOCUMENT_ROOT',
      { SCRIPT_NAME => '/../out/evil.lua', DOCUMENT_ROOT => $www } ],
    [ 'PATH_TRANSLATED', { PATH_TRANSLATED => "$www/../out/evil.lua", PATH_INFO => '/../out/evil.lua' } ],
) {
    my ($what, $p) = @$case;
    my $r = $t->fcgi({ %$p, %get }, '');
    is($r->{status}, 403, "'..' in $what: 403, nothing outside the root runs");
}
ok($t->wait_log(qr/403 Forbidden: a '\.\.' in the path to walk/), "logged as a '..' in the path");
is($t->fcgi({ SCRIPT_NAME => '/./x.lua', PATH_INFO => '', DOCUMENT_ROOT => $www, %get }, '')->{body},
   "x $www/x.lua", "a '.' component is dropped, not refused");

# One file by several spellings is one script, one state (clones = 1).
{
    my @n = map { $t->fcgi({ SCRIPT_NAME => '', PATH_INFO => $_, DOCUMENT_ROOT => $www, %get }, '')->{body} }
            '/hits.lua', '//hits.lua', '/./hits.lua', '/hits.lua';
    is_deeply(\@n, [1, 2, 3, 4], "hits.lua spelled /, //, /./: one state");
    # nginx sends SCRIPT_FILENAME as $document_root$fastcgi_script_name
    # builds it: a root with a '/' or a "." in it spells the file anew
    @n = map { $t->fcgi({ SCRIPT_FILENAME => $_, %get }, '')->{body} }
         "$www/hits.lua", "$www/./hits.lua", "$www//hits.lua", "$www/.//./hits.lua";
    is_deeply(\@n, [5, 6, 7, 8], "SCRIPT_FILENAME spelled /, /./, //: one state, one set of globals");
    is($t->fcgi({ SCRIPT_FILENAME => "$www//./x.lua", %get }, '')->{body}, "x $www/x.lua",
       'env.SCRIPT_FILENAME is the one spelling');
}

# Scripts are read from the descriptor that was checked: a '#!' line is
# skipped, line numbers and the chunk's name read as before.
$t->script('bang.lua', "#!/usr/bin/env lua\nfunction main(env, req) req:puts('bang') end\n");
$t->script('bad.lua', "#!/usr/bin/env lua\n\nlocal x = = 1\n");
is($t->fcgi({ SCRIPT_FILENAME => "$www/bang.lua", %get }, '')->{body}, 'bang', "a '#!' first line is skipped");
is($t->fcgi({ SCRIPT_FILENAME => "$www/bad.lua", %get }, '')->{status}, 500, 'a syntax error: 500');
ok($t->wait_log(qr/load error: \Q$www\E\/bad\.lua:3:/), 'named by its path, at its line');

# nginx with fastcgi.conf and its own SCRIPT_FILENAME line sends it twice;
# the later line is the override, as php-fpm takes it, and env shows the
# one that ran.
{
    my $p = '';
    for (['SCRIPT_FILENAME', "$www/hits.lua"], ['SCRIPT_FILENAME', "$www/x.lua"], ['REQUEST_METHOD', 'GET']) {
        $p .= LFTest::nv_len($_->[0]) . LFTest::nv_len($_->[1]) . $_->[0] . $_->[1];
    }
    my $s = $t->connect;
    LFTest::write_all($s, LFTest::record(1, 1, pack('nCx5', 1, 0)) . LFTest::stream(4, 1, $p)
                          . LFTest::stream(5, 1, ''));
    is(LFTest::read_response($s, timeout => 10)->{body}, "x $www/x.lua",
       'SCRIPT_FILENAME sent twice: env.SCRIPT_FILENAME is the script that ran');
}

# A SCRIPT_NAME too long to rewrite is left as received.
{
    my $r = $t->fcgi({ SCRIPT_FILENAME => "$www/x.lua/extra", SCRIPT_NAME => '/' . ('a' x 5000), %get }, '');
    is($r->{status}, 200, 'a split with a SCRIPT_NAME over PATH_MAX still runs the script');
}

# ORIG_* only for what changed; no PATH_INFO where none was sent.
{
    my $body = $t->fcgi({ SCRIPT_FILENAME => $www, SCRIPT_NAME => '/env.lua', DOCUMENT_ROOT => $www, %get }, '')->{body};
    is($body, 'SCRIPT_NAME=/env.lua;PATH_INFO=nil;ORIG_SCRIPT_NAME=nil;ORIG_PATH_INFO=nil;'
              . "ORIG_SCRIPT_FILENAME=$www;", 'a rebuild changing only SCRIPT_FILENAME keeps only its ORIG_');
    $body = $t->fcgi({ SCRIPT_FILENAME => "$www/env.lua/p", SCRIPT_NAME => '/env.lua/p', PATH_INFO => '', %get }, '')->{body};
    is($body, 'SCRIPT_NAME=/env.lua;PATH_INFO=/p;ORIG_SCRIPT_NAME=/env.lua/p;ORIG_PATH_INFO=;'
              . "ORIG_SCRIPT_FILENAME=$www/env.lua/p;", 'a split: all three, with the received values');
}

# What a request costs in stat calls, counted by strace on the daemon's threads.
SKIP: {
    skip 'strace is not installed', 4 unless -x '/usr/bin/strace';
    my $sp = LFTest::serving_pid($t);
    my $count = sub {
        my ($n, $p) = @_;
        my $out = "$dir/strace.out";
        opendir(my $d, "/proc/$sp/task") or return -1;
        my @tids = grep { /^\d+$/ } readdir $d;
        my $pid = fork // die "fork: $!";
        if (!$pid) {
            open(STDERR, '>', '/dev/null');
            exec('strace', '-q', '-f', '-e', 'trace=stat,newfstatat,statx,lstat', '-o', $out,
                 map { ('-p', $_) } @tids) or POSIX::_exit(127);
        }
        LFTest::track($pid, 'strace');
        my $traced = wait_for(sub {
            !grep { slurp("/proc/$sp/task/$_/status") =~ /^TracerPid:\s+0$/m } @tids }, 10);
        $t->fcgi({ %$p, %get }, '') for 1 .. $n;
        LFTest::stop_pid($pid, 'INT');
        my $calls = () = slurp($out) =~ /^\d+\s+(?:stat|newfstatat|statx|lstat)\(/mg;
        return $traced ? $calls / $n : -1;
    };
    my $long = "$www/x.lua" . ('/' x (4000 - length "$www/x.lua"));
    my $comps = "$www/x.lua" . ('/a' x int((4000 - length "$www/x.lua") / 2));
    my $depth = () = $www =~ m{/}g;
    my $plain = $count->(5, { SCRIPT_FILENAME => "$www/x.lua", SCRIPT_NAME => '/x.lua', DOCUMENT_ROOT => $www });
    skip 'strace cannot attach to the daemon here', 4 if $plain < 0;
    is($plain, 1, 'an nginx request: one stat');
    is($count->(5, { SCRIPT_FILENAME => "$www/nope.lua", SCRIPT_NAME => '/nope.lua', DOCUMENT_ROOT => $www }), 1,
       'an nginx request for a missing script: one stat');
    cmp_ok($count->(5, { SCRIPT_FILENAME => $long }), '<=', $depth + 2,
           "4000 '/' after the script: one stat per directory on the way");
    cmp_ok($count->(5, { SCRIPT_FILENAME => $comps }), '<=', $depth + 2,
           "2000 components after the script: one stat per directory on the way");
}
is($t->stop, 0, 'stopped cleanly');

# With docroot.
my $d = LFTest->new(conf => { workers => 2, loglevel => 'warn' });
($dir, $www) = ($d->dir, $d->www);
$d->write_conf(docroot => $www);
$d->script('r.lua', "function main(env, req) req:puts('INSIDE') end\n");
$d->script('ok.lua', "function main(env, req) req:puts('OK') end\n");
mkdir "$www/sub.lua";
mkdir "$dir/out";
spew("$dir/out/evil.lua", "function main(env, req) req:puts('OUTSIDE') end\n");
spew("$dir/out/exists", "a file\n");
$d->start;

# The answer says nothing about the files outside docroot.
{
    my %p = (SCRIPT_FILENAME => $www, SCRIPT_NAME => '', DOCUMENT_ROOT => $www, %get);
    my $a = $d->fcgi({ %p, PATH_INFO => '/../../../../../../etc/passwd/x.lua' }, '')->{status};
    my $b = $d->fcgi({ %p, PATH_INFO => '/../../../../../../etc/no-such-file/x.lua' }, '')->{status};
    is("$a $b", '403 403', 'walking out of the root, to a file or not: 403 either way');
    $a = $d->fcgi({ SCRIPT_FILENAME => "$dir/out/exists/x.lua", %get }, '')->{status};
    $b = $d->fcgi({ SCRIPT_FILENAME => "$dir/out/missing/x.lua", %get }, '')->{status};
    is("$a $b", '403 403', 'SCRIPT_FILENAME outside docroot, existing or not: 403 either way');
    $b = $d->fcgi({ SCRIPT_FILENAME => "$www/../out/missing.lua", %get }, '')->{status};
    is($b, 403, "a missing file reached by '..' out of docroot: 403");
    is($d->fcgi({ SCRIPT_FILENAME => "$www/missing.lua", %get }, '')->{status}, 404,
       'a missing file under docroot: 404');
    # '/' runs and "." go before the check; a ".." stays and is still refused
    $a = $d->fcgi({ SCRIPT_FILENAME => "$www/./../out/evil.lua", %get }, '')->{status};
    $b = $d->fcgi({ SCRIPT_FILENAME => "$www//.//../out/missing.lua", %get }, '')->{status};
    is("$a $b", '403 403', "'..' out of docroot behind '.' and '//', to a file or not: 403");
    is($d->fcgi({ SCRIPT_FILENAME => "$www/.//ok.lua", %get }, '')->{body}, 'OK',
       "'.' and '//' under docroot: the script runs");
    is($d->fcgi({ SCRIPT_FILENAME => "$www/./missing.lua", %get }, '')->{status}, 404,
       "a missing file under docroot spelled with '.': 404");
}

# No path at all, or only the root: nothing to run, 404.
for my $case ([ 'no variables', {} ],
              [ 'H2O mapping GET /', { SCRIPT_NAME => '', PATH_INFO => '/', DOCUMENT_ROOT => $www } ],
              [ 'SCRIPT_NAME /', { SCRIPT_NAME => '/' } ],
              [ 'a directory', { SCRIPT_FILENAME => "$www/sub.lua" } ]) {
    is($d->fcgi({ %{$case->[1]}, %get }, '')->{status}, 404, "docroot set, $case->[0]: 404");
}

# A FIFO is no script, and never blocks a worker.
POSIX::mkfifo("$www/fifo.lua", 0644) or die "mkfifo: $!";
is($d->fcgi({ SCRIPT_FILENAME => "$www/fifo.lua", %get }, '', timeout => 10)->{status}, 404, 'a FIFO: 404');

# Swap r.lua between a file and something else while two clients ask for
# it: neither the symlink out of docroot nor the FIFO is ever loaded.
sub swapping {
    my ($make_other, $seconds) = @_;
    my $sw = fork // die "fork: $!";
    if (!$sw) {
        my ($end, $i) = (time + $seconds, 0);
        while (time < $end) {
            $i++;
            unlink "$www/.o";
            $make_other->("$www/.o");
            rename("$www/.o", "$www/r.lua");
            spew("$www/.f", "function main(env, req) req:puts('INSIDE') end -- $i\n");
            rename("$www/.f", "$www/r.lua");
        }
        POSIX::_exit(0);
    }
    LFTest::track($sw, 'swapper');
    my @seen = LFTest::run_clients(2, $seconds + 30, sub {
        my ($end, %s) = (time + $seconds);
        while (time < $end) {
            my $r = $d->fcgi({ SCRIPT_FILENAME => "$www/r.lua", %get }, '', timeout => 10);
            $s{$r->{body} =~ /^(INSIDE|OUTSIDE)$/ ? $1 : $r->{status} // 0}++;
        }
        return join ' ', map { "$_=$s{$_}" } sort keys %s;
    });
    waitpid $sw, 0;
    LFTest::untrack($sw);
    return join ' ', @seen;
}
my $seen = swapping(sub { symlink("$dir/out/evil.lua", $_[0]) }, 4);
like($seen, qr/^(?:(?:INSIDE|403)=\d+\s*)+$/,
     "r.lua swapped with a symlink out of docroot: it runs, or 403, never the file outside ($seen)");
$seen = swapping(sub { POSIX::mkfifo($_[0], 0644) }, 4);
like($seen, qr/^(?:(?:INSIDE|404)=\d+\s*)+$/, "r.lua swapped with a FIFO: it runs, or 404 ($seen)");
is($d->fcgi({ SCRIPT_FILENAME => "$www/ok.lua", %get }, '', timeout => 10)->{body}, 'OK',
   'the daemon still serves after the swaps');
is($d->stop, 0, 'stopped cleanly');
done_testing;
