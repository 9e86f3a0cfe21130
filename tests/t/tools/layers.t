# tools/layers on small trees of its own: the tree as it should be passes;
# a quoted include it cannot find fails, as a typo must, rather than being
# taken for a system header and its edge lost; so do a path in a quoted
# include, <h> naming one of our headers (its edge counted all the same),
# another folder's private X_impl.h, a header of include/ that includes a
# folder's, and a circle of three modules, reported edge by edge; a file
# that includes two modules' X_impl.h without saying which it belongs to,
# or saying one whose X_impl.h it does not include; one that says, in
# either order of its includes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../lib";
use Test::More;
use File::Temp qw(tempdir);
use File::Path qw(make_path);
use File::Basename qw(dirname);
use LFTest qw(spew);

my $layers = LFTest::top() . '/tools/layers';
my $cc = LFTest::cc();
plan skip_all => 'needs a C compiler and nm' unless $cc && `command -v nm 2>/dev/null`;

# The tree of FILES (path => text), its objects built with every folder on
# the include path, then LATER's files written over it (what would not
# compile, run on the objects of the tree before). tools/layers' exit code
# and output, run from its top.
sub layers_on {
    my ($files, $later) = @_;
    my $top = tempdir(CLEANUP => 1);
    make_path("$top/include");
    for my $f (sort keys %$files) {
        make_path(dirname("$top/$f"));
        spew("$top/$f", $files->{$f});
    }
    my @inc = map { "-I$_" } "$top/include", sort grep { -d } glob("$top/src/*");
    for my $c (sort grep { /\.c$/ } keys %$files) {
        (my $o = $c) =~ s/\.c$/.o/;
        system($cc, '-c', @inc, '-o', "$top/$o", "$top/$c") == 0 or BAIL_OUT("cc $c failed");
    }
    spew("$top/$_", $later->{$_}) for sort keys %{ $later || {} };
    my $out = `cd '$top' && perl '$layers' 2>&1`;
    return ($? >> 8, $out);
}

# core/buf (a header and its .c) and conf/conf standing on it, conf.c
# including INCLUDE.
sub conf_c {
    "#include <stdio.h>\n#include \"conf.h\"\n#include $_[0]\nint conf_load(void) { return buf_size(); }\n";
}
my %tree = (
    'src/core/buf.h' => "int buf_size(void);\n",
    'src/core/buf.c' => "#include \"buf.h\"\nint buf_size(void) { return 1; }\n",
    'src/conf/conf.h' => "int conf_load(void);\n",
    'src/conf/conf.c' => conf_c('"buf.h"'),
);

my ($rc, $out) = layers_on(\%tree);
is($rc, 0, 'a tree whose quoted includes are all in it passes') or diag($out);
like($out, qr/no circle/, '... and says so');

($rc, $out) = layers_on(\%tree, { 'src/conf/conf.c' => conf_c('"bfu.h"') });
is($rc, 1, 'a quoted include of a header the tree does not hold fails') or diag($out);
like($out, qr{include: src/conf/conf\.c includes "bfu\.h", which is not in the tree},
     '... naming the file and the header');

($rc, $out) = layers_on(\%tree, { 'src/conf/conf.c' => conf_c('"../core/buf.h"') });
is($rc, 1, 'a path in a quoted include fails') or diag($out);
like($out, qr{include: src/conf/conf\.c includes "\.\./core/buf\.h": a path in a quoted include},
     '... saying it is the path that is wrong');
unlike($out, qr/not in the tree/, '... not that the header is missing');

# buf.c uses only a macro of conf.h: no call shows the edge, only the
# include does, and it goes the wrong way (core < conf).
($rc, $out) = layers_on({ %tree,
    'src/conf/conf.h' => "#define CONF_SIZE 1\nint conf_load(void);\n",
    'src/core/buf.c' => "#include <conf.h>\n#include \"buf.h\"\nint buf_size(void) { return CONF_SIZE; }\n" });
is($rc, 1, '<h> naming one of our headers fails') or diag($out);
like($out, qr{include: src/core/buf\.c includes <conf\.h>, which is src/conf/conf\.h: ours are included "conf\.h"},
     '... naming the file and the header');
like($out, qr{order: core stands on conf, a higher folder:\n\s+buf -> conf: buf\.c includes conf\.h},
     '... and its edge counts: core standing on conf is found');

# core's module buf over two files sharing buf_impl.h; conf.c reaches in.
my %split = (%tree,
    'src/core/buf_impl.h' => "#define BUF_UNIT 1\nint buf_size(void);\n",
    'src/core/buf.c' => "#include \"buf.h\"\n#include \"buf_impl.h\"\nint buf_size(void) { return BUF_UNIT; }\n",
    'src/core/buf_more.c' => "#include \"buf.h\"\n#include \"buf_impl.h\"\nint buf_more(void) { return buf_size(); }\n",
    'src/core/buf.h' => "int buf_size(void);\nint buf_more(void);\n");
($rc, $out) = layers_on(\%split);
is($rc, 0, 'a module split over files sharing its _impl.h passes') or diag($out);
($rc, $out) = layers_on({ %split, 'src/conf/conf.c' => conf_c('"buf_impl.h"') });
is($rc, 1, "including another folder's private _impl.h fails") or diag($out);
like($out, qr{include: src/conf/conf\.c includes src/core/buf_impl\.h, the private insides of another folder's module},
     '... naming the file and the header');

($rc, $out) = layers_on({ %tree,
    'include/conf_all.h' => "#include \"conf.h\"\n",
    'src/conf/conf.c' => "#include \"conf_all.h\"\n#include \"buf.h\"\nint conf_load(void) { return buf_size(); }\n" });
is($rc, 1, "a header of include/ that includes a folder's header fails") or diag($out);
like($out, qr{include: include/conf_all\.h includes src/conf/conf\.h: a header every folder may include reaches into src/conf/},
     '... naming both');

# a -> b -> c -> a in one folder, each by a call through the next's header.
my %three;
for (['a', 'b'], ['b', 'c'], ['c', 'a']) {
    my ($m, $n) = @$_;
    $three{"src/core/$m.h"} = "int ${m}_f(int);\n";
    $three{"src/core/$m.c"} = "#include \"$m.h\"\n#include \"$n.h\"\n"
        . "int ${m}_f(int k) { return k > 0 ? ${n}_f(k - 1) : 0; }\n";
}
($rc, $out) = layers_on(\%three);
is($rc, 1, 'a circle of three modules fails') or diag($out);
like($out, qr/circle: modules a, b, c stand on each other:/, '... naming the three');
like($out, qr/a -> b \(a\.c includes b\.h; a\.o calls b_f\)/, '... with the edge a -> b and its evidence');
like($out, qr/b -> c \(b\.c includes c\.h; b\.o calls c_f\)/, '... b -> c');
like($out, qr/c -> a \(c\.c includes a\.h; c\.o calls a_f\)/, '... and c -> a');

# Module a (a.c) installs a_sub's Lua side; a_sub.c is that side, part of
# a: it uses a's insides (a_name) and the engine's (a_sub_impl.h, module
# a_sub, a_sub_engine.c), and a.c calls its a_sub_install. a_sub stands
# on nothing of a. FIRST and SECOND are a_sub.c's two private includes,
# SAYS its comment.
sub sub_tree {
    my ($first, $second, $says) = @_;
    return (
        'src/core/a.h' => "int a_open(void);\n",
        'src/core/a_impl.h' => "int a_name(void);\nint a_sub_install(void);\n",
        'src/core/a.c' => "#include \"a.h\"\n#include \"a_impl.h\"\n"
            . "int a_name(void) { return 1; }\nint a_open(void) { return a_sub_install(); }\n",
        'src/core/a_sub_impl.h' => "int a_sub_run(int);\n",
        'src/core/a_sub_engine.c' => "#include \"a_sub_impl.h\"\nint a_sub_run(int k) { return k; }\n",
        'src/core/a_sub.c' => ($says ? "/* the Lua side (tools/layers: module $says) */\n" : '')
            . "#include \"$first\"\n#include \"$second\"\n"
            . "int a_sub_install(void) { return a_sub_run(a_name()); }\n",
    );
}
for my $order (['a_impl.h', 'a_sub_impl.h'], ['a_sub_impl.h', 'a_impl.h']) {
    my $as = "$order->[0] then $order->[1]";
    ($rc, $out) = layers_on({ sub_tree(@$order) });
    is($rc, 1, "a file including two modules' _impl.h ($as) and not saying which it is part of fails")
        or diag($out);
    like($out, qr{module: src/core/a_sub\.c includes the private headers of modules \S+ and \S+ \((?:a_impl\.h, a_sub_impl\.h|a_sub_impl\.h, a_impl\.h)\): say which it belongs to},
         '... naming the file and both headers');
    ($rc, $out) = layers_on({ sub_tree(@$order, 'a') });
    is($rc, 0, "... passes ($as) when its comment says module a") or diag($out);
    like($out, qr/no circle/, '... with no circle');
    ($rc, $out) = layers_on({ sub_tree(@$order, 'a_sub') });
    is($rc, 1, "... and when it says module a_sub ($as), the circle it makes is found") or diag($out);
    like($out, qr/circle: modules a, a_sub stand on each other:/, '... naming a and a_sub');
}
($rc, $out) = layers_on({ sub_tree('a_impl.h', 'a_sub_impl.h', 'b') });
is($rc, 1, 'a comment saying a module whose _impl.h the file does not include fails') or diag($out);
like($out, qr{module: src/core/a_sub\.c says `tools/layers: module b`, but does not include b_impl\.h \(it includes a_impl\.h, a_sub_impl\.h\)},
     '... naming the file, the module it says and what it includes');

done_testing();
