using MLNetCnn.Architectures.Graph;
using MLNetCnn.Architectures.Layers;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace MLNetCnn.Architectures.Families;

/// <summary>Inception v3's 35x35 module (paper Figure 5): 1x1; 1x1-5x5; 1x1-3x3-3x3; 3x3 average pool-1x1.</summary>
public sealed class InceptionA : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly BasicConv2d branch1x1;
    private readonly BasicConv2d branch5x5_1;
    private readonly BasicConv2d branch5x5_2;
    private readonly BasicConv2d branch3x3dbl_1;
    private readonly BasicConv2d branch3x3dbl_2;
    private readonly BasicConv2d branch3x3dbl_3;
    private readonly AvgPool2d pool;
    private readonly BasicConv2d branch_pool;

    /// <summary>Creates the module; output channels 224 + <paramref name="poolFeatures"/>.</summary>
    public InceptionA(int inChannels, int poolFeatures)
        : base(nameof(InceptionA))
    {
        branch1x1 = new BasicConv2d(inChannels, 64, 1);
        branch5x5_1 = new BasicConv2d(inChannels, 48, 1);
        branch5x5_2 = new BasicConv2d(48, 64, 5, padding: 2);
        branch3x3dbl_1 = new BasicConv2d(inChannels, 64, 1);
        branch3x3dbl_2 = new BasicConv2d(64, 96, 3, padding: 1);
        branch3x3dbl_3 = new BasicConv2d(96, 96, 3, padding: 1);
        pool = nn.AvgPool2d(3, stride: 1, padding: 1);
        branch_pool = new BasicConv2d(inChannels, poolFeatures, 1);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b1 = branch1x1.forward(x);
        var b5 = branch5x5_2.forward(branch5x5_1.forward(x));
        var b3 = branch3x3dbl_3.forward(branch3x3dbl_2.forward(branch3x3dbl_1.forward(x)));
        var bp = branch_pool.forward(pool.forward(x));
        return cat(new[] { b1, b5, b3, bp }, 1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder g, GraphValue x) => g.ConcatChannels(
        g.Apply(branch1x1, x),
        g.Apply(branch5x5_2, g.Apply(branch5x5_1, x)),
        g.Apply(branch3x3dbl_3, g.Apply(branch3x3dbl_2, g.Apply(branch3x3dbl_1, x))),
        g.Apply(branch_pool, g.Apply(pool, x)));
}

/// <summary>Inception v3's 35 -> 17 grid reduction (paper Figure 10): stride-2 3x3; 1x1-3x3-3x3 stride 2; 3x3 max pool stride 2.</summary>
public sealed class InceptionB : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly BasicConv2d branch3x3;
    private readonly BasicConv2d branch3x3dbl_1;
    private readonly BasicConv2d branch3x3dbl_2;
    private readonly BasicConv2d branch3x3dbl_3;
    private readonly MaxPool2d pool;

    /// <summary>Creates the module; output channels 480 + input.</summary>
    public InceptionB(int inChannels)
        : base(nameof(InceptionB))
    {
        branch3x3 = new BasicConv2d(inChannels, 384, 3, stride: 2);
        branch3x3dbl_1 = new BasicConv2d(inChannels, 64, 1);
        branch3x3dbl_2 = new BasicConv2d(64, 96, 3, padding: 1);
        branch3x3dbl_3 = new BasicConv2d(96, 96, 3, stride: 2);
        pool = nn.MaxPool2d(3, stride: 2);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b3 = branch3x3.forward(x);
        var bd = branch3x3dbl_3.forward(branch3x3dbl_2.forward(branch3x3dbl_1.forward(x)));
        return cat(new[] { b3, bd, pool.forward(x) }, 1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder g, GraphValue x) => g.ConcatChannels(
        g.Apply(branch3x3, x),
        g.Apply(branch3x3dbl_3, g.Apply(branch3x3dbl_2, g.Apply(branch3x3dbl_1, x))),
        g.Apply(pool, x));
}

/// <summary>Inception v3's 17x17 module (paper Figure 6, n = 7): 1x1; 1x1-1x7-7x1; 1x1-7x1-1x7-7x1-1x7; average pool-1x1.</summary>
public sealed class InceptionC : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly BasicConv2d branch1x1;
    private readonly BasicConv2d branch7x7_1;
    private readonly BasicConv2d branch7x7_2;
    private readonly BasicConv2d branch7x7_3;
    private readonly BasicConv2d branch7x7dbl_1;
    private readonly BasicConv2d branch7x7dbl_2;
    private readonly BasicConv2d branch7x7dbl_3;
    private readonly BasicConv2d branch7x7dbl_4;
    private readonly BasicConv2d branch7x7dbl_5;
    private readonly AvgPool2d pool;
    private readonly BasicConv2d branch_pool;

    /// <summary>Creates the module; output channels 768.</summary>
    public InceptionC(int inChannels, int channels7x7)
        : base(nameof(InceptionC))
    {
        int c7 = channels7x7;
        branch1x1 = new BasicConv2d(inChannels, 192, 1);
        branch7x7_1 = new BasicConv2d(inChannels, c7, 1);
        branch7x7_2 = new BasicConv2d(c7, c7, (1, 7), 1, (0, 3));
        branch7x7_3 = new BasicConv2d(c7, 192, (7, 1), 1, (3, 0));
        branch7x7dbl_1 = new BasicConv2d(inChannels, c7, 1);
        branch7x7dbl_2 = new BasicConv2d(c7, c7, (7, 1), 1, (3, 0));
        branch7x7dbl_3 = new BasicConv2d(c7, c7, (1, 7), 1, (0, 3));
        branch7x7dbl_4 = new BasicConv2d(c7, c7, (7, 1), 1, (3, 0));
        branch7x7dbl_5 = new BasicConv2d(c7, 192, (1, 7), 1, (0, 3));
        pool = nn.AvgPool2d(3, stride: 1, padding: 1);
        branch_pool = new BasicConv2d(inChannels, 192, 1);
        RegisterComponents();
    }

    private BasicConv2d[] Single => new[] { branch7x7_1, branch7x7_2, branch7x7_3 };

    private BasicConv2d[] Double => new[] { branch7x7dbl_1, branch7x7dbl_2, branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5 };

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b7 = Single.Aggregate(x, (v, m) => m.forward(v));
        var bd = Double.Aggregate(x, (v, m) => m.forward(v));
        var bp = branch_pool.forward(pool.forward(x));
        return cat(new[] { branch1x1.forward(x), b7, bd, bp }, 1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder g, GraphValue x) => g.ConcatChannels(
        g.Apply(branch1x1, x),
        Single.Aggregate(x, (v, m) => g.Apply(m, v)),
        Double.Aggregate(x, (v, m) => g.Apply(m, v)),
        g.Apply(branch_pool, g.Apply(pool, x)));
}

/// <summary>Inception v3's 17 -> 8 grid reduction: 1x1-3x3 stride 2; 1x1-1x7-7x1-3x3 stride 2; 3x3 max pool stride 2.</summary>
public sealed class InceptionD : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly BasicConv2d branch3x3_1;
    private readonly BasicConv2d branch3x3_2;
    private readonly BasicConv2d branch7x7x3_1;
    private readonly BasicConv2d branch7x7x3_2;
    private readonly BasicConv2d branch7x7x3_3;
    private readonly BasicConv2d branch7x7x3_4;
    private readonly MaxPool2d pool;

    /// <summary>Creates the module; output channels 512 + input.</summary>
    public InceptionD(int inChannels)
        : base(nameof(InceptionD))
    {
        branch3x3_1 = new BasicConv2d(inChannels, 192, 1);
        branch3x3_2 = new BasicConv2d(192, 320, 3, stride: 2);
        branch7x7x3_1 = new BasicConv2d(inChannels, 192, 1);
        branch7x7x3_2 = new BasicConv2d(192, 192, (1, 7), 1, (0, 3));
        branch7x7x3_3 = new BasicConv2d(192, 192, (7, 1), 1, (3, 0));
        branch7x7x3_4 = new BasicConv2d(192, 192, 3, stride: 2);
        pool = nn.MaxPool2d(3, stride: 2);
        RegisterComponents();
    }

    private BasicConv2d[] Tower => new[] { branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4 };

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var b3 = branch3x3_2.forward(branch3x3_1.forward(x));
        var b7 = Tower.Aggregate(x, (v, m) => m.forward(v));
        return cat(new[] { b3, b7, pool.forward(x) }, 1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder g, GraphValue x) => g.ConcatChannels(
        g.Apply(branch3x3_2, g.Apply(branch3x3_1, x)),
        Tower.Aggregate(x, (v, m) => g.Apply(m, v)),
        g.Apply(pool, x));
}

/// <summary>Inception v3's 8x8 module with expanded filter banks (paper Figure 7): 1x3 and 3x1 side by side.</summary>
public sealed class InceptionE : nn.Module<Tensor, Tensor>, IGraphEmitter
{
    private readonly BasicConv2d branch1x1;
    private readonly BasicConv2d branch3x3_1;
    private readonly BasicConv2d branch3x3_2a;
    private readonly BasicConv2d branch3x3_2b;
    private readonly BasicConv2d branch3x3dbl_1;
    private readonly BasicConv2d branch3x3dbl_2;
    private readonly BasicConv2d branch3x3dbl_3a;
    private readonly BasicConv2d branch3x3dbl_3b;
    private readonly AvgPool2d pool;
    private readonly BasicConv2d branch_pool;

    /// <summary>Creates the module; output channels 2048.</summary>
    public InceptionE(int inChannels)
        : base(nameof(InceptionE))
    {
        branch1x1 = new BasicConv2d(inChannels, 320, 1);
        branch3x3_1 = new BasicConv2d(inChannels, 384, 1);
        branch3x3_2a = new BasicConv2d(384, 384, (1, 3), 1, (0, 1));
        branch3x3_2b = new BasicConv2d(384, 384, (3, 1), 1, (1, 0));
        branch3x3dbl_1 = new BasicConv2d(inChannels, 448, 1);
        branch3x3dbl_2 = new BasicConv2d(448, 384, 3, padding: 1);
        branch3x3dbl_3a = new BasicConv2d(384, 384, (1, 3), 1, (0, 1));
        branch3x3dbl_3b = new BasicConv2d(384, 384, (3, 1), 1, (1, 0));
        pool = nn.AvgPool2d(3, stride: 1, padding: 1);
        branch_pool = new BasicConv2d(inChannels, 192, 1);
        RegisterComponents();
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var s = branch3x3_1.forward(x);
        var d = branch3x3dbl_2.forward(branch3x3dbl_1.forward(x));
        var bp = branch_pool.forward(pool.forward(x));
        return cat(new[] { branch1x1.forward(x), branch3x3_2a.forward(s), branch3x3_2b.forward(s), branch3x3dbl_3a.forward(d), branch3x3dbl_3b.forward(d), bp }, 1).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public GraphValue Emit(GraphBuilder g, GraphValue x)
    {
        var s = g.Apply(branch3x3_1, x);
        var d = g.Apply(branch3x3dbl_2, g.Apply(branch3x3dbl_1, x));
        return g.ConcatChannels(
            g.Apply(branch1x1, x),
            g.Apply(branch3x3_2a, s),
            g.Apply(branch3x3_2b, s),
            g.Apply(branch3x3dbl_3a, d),
            g.Apply(branch3x3dbl_3b, d),
            g.Apply(branch_pool, g.Apply(pool, x)));
    }
}

/// <summary>Inception v3's auxiliary classifier with batch norm (paper section 7): 5x5/3 average pool, 1x1 conv 128, 5x5 conv 768, FC.</summary>
public sealed class InceptionV3Aux : nn.Module<Tensor, Tensor>
{
    private readonly BasicConv2d conv0;
    private readonly BasicConv2d conv1;
    private readonly Linear fc;
    private readonly bool adaptivePool;
    private readonly int inChannels;

    /// <summary>Creates the head; <paramref name="adaptivePool"/> replaces the 5x5/3 pool by an adaptive pool to 5x5 (small inputs).</summary>
    public InceptionV3Aux(int inChannels, int numClasses, bool adaptivePool)
        : base(nameof(InceptionV3Aux))
    {
        this.inChannels = inChannels;
        conv0 = new BasicConv2d(inChannels, 128, 1);
        conv1 = new BasicConv2d(128, 768, 5);
        fc = nn.Linear(768, numClasses);
        this.adaptivePool = adaptivePool;
        RegisterComponents();
    }

    /// <summary>A fresh head of the same input width and pooling for <paramref name="numClasses"/> classes, initialized as the network initializes it.</summary>
    public InceptionV3Aux WithClasses(int numClasses)
    {
        var head = new InceptionV3Aux(inChannels, numClasses, adaptivePool);
        Init.KaimingConvUnitNorm(head);
        return head;
    }

    /// <inheritdoc/>
    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = adaptivePool ? nn.functional.adaptive_avg_pool2d(input, new long[] { 5, 5 }) : nn.functional.avg_pool2d(input, 5, stride: 3);
        x = conv1.forward(conv0.forward(x));                                  // N x 768 x 1 x 1
        return fc.forward(nn.functional.adaptive_avg_pool2d(x, new long[] { 1, 1 }).flatten(1)).MoveToOuterDisposeScope();
    }
}
